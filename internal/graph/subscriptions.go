package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// subscription is Graph's subscription resource as it is sent and read
// (api-reference/v1.0/resources/subscription.md).
type subscription struct {
	ID                        string `json:"id,omitempty"`
	Resource                  string `json:"resource,omitempty"`
	ApplicationID             string `json:"applicationId,omitempty"`
	ChangeType                string `json:"changeType,omitempty"`
	ClientState               string `json:"clientState,omitempty"`
	NotificationURL           string `json:"notificationUrl,omitempty"`
	LifecycleNotificationURL  string `json:"lifecycleNotificationUrl,omitempty"`
	ExpirationDateTime        string `json:"expirationDateTime,omitempty"`
	LatestSupportedTLSVersion string `json:"latestSupportedTlsVersion,omitempty"`
}

func (s subscription) model() (cloud.Subscription, error) {
	exp, err := time.Parse(time.RFC3339Nano, s.ExpirationDateTime)
	if err != nil {
		return cloud.Subscription{}, fmt.Errorf("graph: subscription %s: expirationDateTime %q: %w", s.ID, s.ExpirationDateTime, err)
	}
	return cloud.Subscription{ID: s.ID, Resource: s.Resource, ChangeType: s.ChangeType, NotificationURL: s.NotificationURL,
		LifecycleNotificationURL: s.LifecycleNotificationURL, ClientState: s.ClientState, Expires: exp, ApplicationID: s.ApplicationID}, nil
}

// expiry is how Graph's examples write a subscription's expiry.
func expiry(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// Subscriptions lists the app's change notification subscriptions
// (GET /subscriptions: with application permissions, all the app's).
func (c *Client) Subscriptions(ctx context.Context) ([]cloud.Subscription, error) {
	var out []cloud.Subscription
	err := eachPage(ctx, c, c.endpoint("/v1.0/subscriptions", nil), func(page []subscription) (bool, error) {
		for _, s := range page {
			m, err := s.model()
			if err != nil {
				return true, err
			}
			out = append(out, m)
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateSubscription asks Graph to notify s.NotificationURL of changes to
// s.Resource until s.Expires. Graph validates both URLs first (it posts a
// validationToken each must echo within 10 seconds) and answers 400 when
// either does not.
func (c *Client) CreateSubscription(ctx context.Context, s cloud.Subscription) (cloud.Subscription, error) {
	body, _ := json.Marshal(subscription{Resource: s.Resource, ChangeType: s.ChangeType, ClientState: s.ClientState, // strings: cannot fail
		NotificationURL: s.NotificationURL, LifecycleNotificationURL: s.LifecycleNotificationURL,
		ExpirationDateTime: expiry(s.Expires), LatestSupportedTLSVersion: "v1_2"})
	return c.subscriptionCall(ctx, http.MethodPost, c.endpoint("/v1.0/subscriptions", nil), body)
}

// RenewSubscription moves a subscription's expiry to until; it also
// reauthorizes it. A subscription Graph no longer has is
// cloud.ErrNoSuchSubscription.
func (c *Client) RenewSubscription(ctx context.Context, id string, until time.Time) (cloud.Subscription, error) {
	body, _ := json.Marshal(subscription{ExpirationDateTime: expiry(until)}) // a string: cannot fail
	return c.subscriptionCall(ctx, http.MethodPatch, c.endpoint("/v1.0/subscriptions/"+url.PathEscape(id), nil), body)
}

// ReauthorizeSubscription answers a reauthorizationRequired lifecycle
// event without moving the expiry (POST /subscriptions/{id}/reauthorize).
func (c *Client) ReauthorizeSubscription(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodPost, c.endpoint("/v1.0/subscriptions/"+url.PathEscape(id)+"/reauthorize", nil), nil, nil)
	return subscriptionErr(err)
}

// DeleteSubscription ends a subscription; one Graph no longer has is
// cloud.ErrNoSuchSubscription.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, c.endpoint("/v1.0/subscriptions/"+url.PathEscape(id), nil), nil, nil)
	return subscriptionErr(err)
}

func (c *Client) subscriptionCall(ctx context.Context, method, link string, body []byte) (cloud.Subscription, error) {
	raw, err := c.do(ctx, method, link, nil, body)
	if err != nil {
		return cloud.Subscription{}, subscriptionErr(err)
	}
	var s subscription
	if err := json.Unmarshal(raw, &s); err != nil {
		return cloud.Subscription{}, fmt.Errorf("graph: %s %s: decode: %w", method, pathOf(link), err)
	}
	return s.model()
}

// subscriptionErr makes Graph's 404 on a subscription
// cloud.ErrNoSuchSubscription.
func subscriptionErr(err error) error {
	var gerr *Error
	if errors.As(err, &gerr) && gerr.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %w", cloud.ErrNoSuchSubscription, err)
	}
	return err
}

// notificationBody is a changeNotificationCollection as Graph posts it
// (api-reference/v1.0/resources/changenotificationcollection.md).
type notificationBody struct {
	Value []struct {
		SubscriptionID                 string `json:"subscriptionId"`
		SubscriptionExpirationDateTime string `json:"subscriptionExpirationDateTime"`
		ClientState                    string `json:"clientState"`
		ChangeType                     string `json:"changeType"`
		Resource                       string `json:"resource"`
		TenantID                       string `json:"tenantId"`
		LifecycleEvent                 string `json:"lifecycleEvent"`
		ResourceData                   *struct {
			ID string `json:"id"`
		} `json:"resourceData"`
	} `json:"value"`
}

// ParseNotifications reads the body of a change or lifecycle notification
// Graph posted. It only parses: whether each item is Graph's (its
// clientState) is the receiver's to check.
func ParseNotifications(body []byte) ([]cloud.Notification, error) {
	var b notificationBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("graph: a notification that is not a changeNotificationCollection: %w", err)
	}
	out := make([]cloud.Notification, 0, len(b.Value))
	for i, v := range b.Value {
		if v.SubscriptionID == "" {
			return nil, fmt.Errorf("graph: notification %d has no subscriptionId", i)
		}
		n := cloud.Notification{SubscriptionID: v.SubscriptionID, ClientState: v.ClientState, TenantID: v.TenantID,
			ChangeType: v.ChangeType, Resource: v.Resource, LifecycleEvent: v.LifecycleEvent}
		if v.ResourceData != nil {
			n.ResourceID = v.ResourceData.ID
		}
		if v.SubscriptionExpirationDateTime != "" {
			t, err := time.Parse(time.RFC3339Nano, v.SubscriptionExpirationDateTime)
			if err != nil {
				return nil, fmt.Errorf("graph: notification %d: subscriptionExpirationDateTime %q: %w", i, v.SubscriptionExpirationDateTime, err)
			}
			n.SubscriptionExpires = t
		}
		out = append(out, n)
	}
	return out, nil
}
