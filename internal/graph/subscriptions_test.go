package graph

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// The subscription samples Microsoft's pages print are read as printed:
// create, renew, list (where resource is spelled "Users" and clientState
// is null), and a 404 is ErrNoSuchSubscription.
func TestDocsSubscriptions(t *testing.T) {
	c := docServer(t,
		step{method: "POST", path: "/v1.0/subscriptions", file: "subscription-post-response.json", status: 201},
		step{method: "PATCH", path: "/v1.0/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07", file: "subscription-update-response.json"},
		step{method: "GET", path: "/v1.0/subscriptions", file: "subscription-list-response.json"},
		step{method: "DELETE", path: "/v1.0/subscriptions/0fc0d6db-0073-42e5-a186-853da75fb308", status: 204},
		step{method: "POST", path: "/v1.0/subscriptions/0fc0d6db-0073-42e5-a186-853da75fb308/reauthorize", file: "error-invalidrange.json", status: 404},
	)
	ctx := context.Background()
	s, err := c.CreateSubscription(ctx, cloud.Subscription{Resource: "groups", ChangeType: "updated,deleted", NotificationURL: "https://wb.contoso.test/graph/notifications",
		ClientState: "secretClientValue", Expires: time.Now().Add(time.Hour)})
	want := time.Date(2016, 11, 20, 18, 23, 45, 935691300, time.UTC)
	if err != nil || s.ID != "7f105c7d-2dc5-4530-97cd-4e7ae6534c07" || !s.Expires.Equal(want) || s.ClientState != "secretClientValue" ||
		s.NotificationURL != "https://webhook.azurewebsites.net/api/send/myNotifyClient" {
		t.Fatalf("create = %+v, %v", s, err)
	}
	s, err = c.RenewSubscription(ctx, s.ID, time.Now().Add(time.Hour))
	if err != nil || !s.Expires.Equal(time.Date(2016, 11, 22, 18, 23, 45, 935691300, time.UTC)) || s.ChangeType != "created,updated" {
		t.Fatalf("renew = %+v, %v", s, err)
	}
	list, err := c.Subscriptions(ctx)
	if err != nil || len(list) != 1 || list[0].Resource != "Users" || list[0].ClientState != "" ||
		list[0].LifecycleNotificationURL != "https://webhook.azurewebsites.net/api/send/lifecycleNotifications" || !list[0].Expires.Equal(time.Date(2018, 3, 12, 5, 0, 0, 0, time.UTC)) {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if err := c.DeleteSubscription(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := c.ReauthorizeSubscription(ctx, list[0].ID); !errors.Is(err, cloud.ErrNoSuchSubscription) {
		t.Fatalf("reauthorize a subscription Graph answers 404 for: %v, want ErrNoSuchSubscription", err)
	}
}

// The notification samples are parsed as printed: a change notification
// names its subscription, client state, change and object; a lifecycle
// notification its event.
func TestDocsNotifications(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ns, err := ParseNotifications(read("change-notification-webhook.json"))
	if err != nil || len(ns) != 1 {
		t.Fatalf("%+v, %v", ns, err)
	}
	n := ns[0]
	if n.SubscriptionID != "{subscription_guid}" || n.ClientState != "secretClientValue" || n.ChangeType != "created" || n.ResourceID != "{long_id_string}" ||
		n.TenantID != "84bd8158-6d4d-4958-8b9f-9d6445542f95" || !n.SubscriptionExpires.Equal(time.Date(2016, 3, 19, 22, 11, 9, 952000000, time.UTC)) || n.LifecycleEvent != "" {
		t.Errorf("change notification = %+v", n)
	}
	ns, err = ParseNotifications(read("lifecycle-notification.json"))
	if err != nil || len(ns) != 1 || ns[0].LifecycleEvent != "subscriptionRemoved or missed or reauthorizationRequired" || ns[0].ClientState != "<secretClientState>" || ns[0].ResourceID != "" {
		t.Errorf("lifecycle notification = %+v, %v", ns, err)
	}
	for _, bad := range []string{`{`, `{"value":[{"clientState":"x"}]}`, `{"value":[{"subscriptionId":"s","subscriptionExpirationDateTime":"soon"}]}`} {
		if _, err := ParseNotifications([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
