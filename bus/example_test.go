package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/cxgate/cxgate/bus"
)

func ExampleBus_Command() {
	b := bus.New()
	p, err := b.RegisterPlugin("Greeter")
	if err != nil {
		panic(err)
	}
	err = p.RegisterCommand("greet", func(_ context.Context, call *bus.Call) (any, error) {
		var opts struct{ Name string }
		if err := json.Unmarshal(call.Options, &opts); err != nil || opts.Name == "" {
			return nil, bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "A name is required.")
		}
		return "Hello, " + opts.Name + "!", nil
	})
	if err != nil {
		panic(err)
	}
	b.Start()
	defer b.Close()

	caller := bus.Caller{Kind: bus.KindVisitor, ID: "c1", Deployment: "demo"}
	res, err := b.Command(context.Background(), caller, "Greeter.greet", []byte(`{"name":"Ann"}`))
	fmt.Println(res, err)

	_, err = b.Command(context.Background(), caller, "Greeter.greet", []byte(`{}`))
	fmt.Println(bus.CodeOf(err), bus.AsRejection(err).Message)

	_, err = b.Command(context.Background(), caller, "Greeter.wave", nil)
	fmt.Println(bus.CodeOf(err))
	// Output:
	// Hello, Ann! <nil>
	// invalid_request A name is required.
	// unknown_command
}

func ExampleBus_Subscribe() {
	b := bus.New()
	p, err := b.RegisterPlugin("WebChatService")
	if err != nil {
		panic(err)
	}
	b.Start()
	defer b.Close()

	// Every WebChatService event of chat c1.
	sub := b.Subscribe(bus.SubscribeOptions{Pattern: "WebChatService.*", Topic: bus.ChatTopic("c1")})
	defer sub.Close()

	p.Publish("messageReceived", bus.ChatTopic("c1"), 1, []byte(`{"text":"hi"}`))
	p.Publish("messageReceived", bus.ChatTopic("c2"), 1, []byte(`{"text":"not for c1"}`))
	p.Publish("ended", bus.ChatTopic("c1"), 2, []byte(`{}`))

	for range 2 {
		ev := <-sub.Events()
		fmt.Println(ev.Seq, ev.Name, string(ev.Data))
	}
	// Output:
	// 1 WebChatService.messageReceived {"text":"hi"}
	// 2 WebChatService.ended {}
}
