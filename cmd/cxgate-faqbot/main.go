package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cxgate/cxgate/bots/faqbot"
)

func main() {
	gateway := flag.String("gateway", "http://127.0.0.1:8080", "the gateway's base URL")
	token := flag.String("token", "", "the bot agent's token (required)")
	secret := flag.String("secret", "", "the webhook subscription's secret (required)")
	queue := flag.String("queue", "frontdesk", "the queue whose chats the bot takes")
	human := flag.String("human-queue", "support", "where visitors asking for a person go")
	listen := flag.String("listen", "127.0.0.1:9000", "address for the webhook receiver (path /hook)")
	flag.Parse()
	if *token == "" || *secret == "" {
		fmt.Fprintln(os.Stderr, "cxgate-faqbot: -token and -secret are required")
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	bot := faqbot.New(faqbot.Config{Gateway: *gateway, Token: *token, WebhookSecret: *secret,
		Queue: *queue, HumanQueue: *human, Logger: logger})
	mux := http.NewServeMux()
	mux.Handle("/hook", bot)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	logger.Info("faqbot listening", "addr", *listen, "gateway", *gateway, "queue", *queue)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "cxgate-faqbot:", err)
		os.Exit(1)
	}
}
