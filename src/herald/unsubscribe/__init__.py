"""One-click unsubscribe (RFC 8058): signed per-recipient links in marketing email, and the page behind them."""
