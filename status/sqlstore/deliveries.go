package sqlstore

import (
	"context"
	"fmt"

	"github.com/fastflow-dev/fastflow/status"
)

// RecordDelivery implements status.DeliveryStore.
func (s *Store) RecordDelivery(ctx context.Context, d status.Delivery) error {
	if d.ID == "" {
		return fmt.Errorf("record delivery: %w: empty id", status.ErrInvalidArgument)
	}
	at := d.ReceivedAt
	if at.IsZero() {
		at = s.now()
	}
	_, err := s.exec(ctx, `INSERT INTO webhook_deliveries (delivery_id, event, received_at) VALUES (?, ?, ?)`,
		d.ID, d.Event, s.d.timeArg(at))
	if err != nil {
		return fmt.Errorf("record delivery %s: %w", d.ID, err)
	}
	return nil
}
