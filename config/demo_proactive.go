package config

import "time"

// demoProactive gives the demo's deployments what the pages under
// /demo/proactive/ show (docs/proactive.md): on "demo", a chat button on
// every page and an invitation after 5 s on the product page, each with an
// offline variant for when Ann is offline, and the cart read from the page;
// "demo-async" is embedded in the contact page.
func demoProactive(c *Config) {
	for i := range c.Deployments {
		d := &c.Deployments[i]
		switch d.Key {
		case "demo":
			d.Variables = []Variable{{Name: "cart", Selector: "#cart-total", Type: VarNumber}}
			d.Triggers = []Trigger{
				{Name: "product-help", When: &Condition{Kind: CondAll, Children: []Condition{
					{Kind: CondURL, Glob: "*/demo/proactive/product*"},
					{Kind: CondTimeOnPage, Duration: 5 * time.Second},
				}}, Action: Action{Show: "product-invite"}},
				{Name: "everywhere", Action: Action{Show: "chat-button"}},
			}
			d.Items = []Item{
				{Name: "chat-button", Kind: ItemButton,
					Online:  ItemText{Text: "Chat with us"},
					Offline: &ItemText{Text: "Leave a message"}},
				{Name: "product-invite", Kind: ItemInvitation,
					Online: ItemText{Title: "Questions about the kettle?", Text: "Ann is online and happy to help.",
						Accept: "Chat now", Decline: "No thanks"},
					Offline: &ItemText{Title: "We are away", Text: "Leave us a message: we answer by email.",
						Accept: "Write to us", Decline: "Later"}},
			}
		case "demo-async":
			d.Display = DisplayEmbedded
			d.Triggers = []Trigger{{Name: "everywhere", Action: Action{Show: "message-button"}}}
			d.Items = []Item{{Name: "message-button", Kind: ItemButton, Online: ItemText{Text: "Message us"}}}
		}
	}
}
