"""Charts are drawn when they come near the viewport (static/js/site.js): scroll to one, then wait for it."""


def drawn(page, selector: str, timeout: float = 30_000):
    chart = page.locator(selector).first
    chart.wait_for(state="attached", timeout=timeout)
    chart.scroll_into_view_if_needed()
    chart.locator("svg.main-svg").first.wait_for(timeout=timeout)
    return chart
