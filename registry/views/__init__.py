"""Registry pages, by subject: models (list, detail, register), versions (detail, diff, card),
promotions (approval queue, request detail, decisions), webhooks (subscribers, deliveries)."""
