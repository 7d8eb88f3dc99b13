"""Outgoing webhooks: every app's audited events, signed and delivered to subscriber URLs.

In the kernel because they fan out the events of every app (each adds its event names with
`Webhook.add_events` from its AppConfig.ready()). wire: the body, signature, retry schedule and
the POST. schemas: the service inputs. services: subscribers, fan-out, delivery. filters: the
lists of the pages and the API. tasks: the django-q entry points. views and api: pages and REST.
"""
