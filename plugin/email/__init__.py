"""Lifecycle email: the self-contained core, wired in by the app.

- `smtp`: the relay's URL (`SmtpConfig`) and the one call that sends (`Mailer`), with errors
  split into "retry later" and "refused for good";
- `templates`: an offer's email copy (subject, text, HTML) rendered by sandboxed Jinja2;
- `message`: the MIME message, with RFC 8058 one-click unsubscribe headers;
- `links`: signed link tokens (open an offer, unsubscribe), bound to their purpose.

Only `smtp` does I/O; the other three are pure.
"""
