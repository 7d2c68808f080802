package directory

import "context"

// RangedMembers exposes ranged retrieval to the external tests.
func (c *Client) RangedMembers(ctx context.Context, dn string, start int) ([]string, error) {
	return c.rangedMembers(ctx, dn, start)
}

// NextRange exposes the range parser.
var NextRange = nextRange
