package cloud

import (
	"errors"
	"time"
)

// Subscription is a Graph change notification subscription: Graph posts
// a notification to NotificationURL when an object of Resource changes
// (a trigger only: for groups and users it carries no data), and
// lifecycle events (reauthorizationRequired) to LifecycleNotificationURL.
type Subscription struct {
	ID string
	// Resource is "groups" or "users".
	Resource string
	// ChangeType is Graph's comma-separated list: created,updated,deleted.
	ChangeType               string
	NotificationURL          string
	LifecycleNotificationURL string
	// ClientState is the secret Graph sends back with each notification.
	ClientState string
	// Expires is when Graph drops the subscription unless it is renewed.
	Expires       time.Time
	ApplicationID string
}

// ErrNoSuchSubscription: Graph has no subscription of that id (it
// expired, or was removed).
var ErrNoSuchSubscription = errors.New("no such subscription: it expired or Graph removed it")

// Notification is one item of a change or lifecycle notification Graph
// posts: a trigger, naming what changed (for groups and users Graph sends
// no resource data) or what became of the subscription.
type Notification struct {
	SubscriptionID string
	// ClientState is the secret the subscription was made with; a
	// notification without the right one is not Graph's.
	ClientState string
	TenantID    string
	// ChangeType is created, updated or deleted; Resource is Graph's path
	// of the object ("Groups/{id}"), ResourceID its id.
	ChangeType, Resource, ResourceID string
	// LifecycleEvent is set on a lifecycle notification:
	// reauthorizationRequired, subscriptionRemoved or missed.
	LifecycleEvent      string
	SubscriptionExpires time.Time
}
