"""Registry pages, by subject: models (list, detail, register), versions (detail, diff, card),
promotions (approval queue, request detail, decisions). The webhook pages are the kernel's (mlops_site.webhooks)."""
