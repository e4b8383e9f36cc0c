"""Local fake payment providers (Stripe, PayPal) speaking the providers' wire formats.

Used by the tests (in-process, `tests/fakes/server.py`'s ThreadedServer) and by the local
stack (`sichrplace fakes stripe|paypal`, programs `stripe-fake` / `paypal-fake`), where their
approval pages stand in for the providers' checkouts. `stripe.build_app(FakeConfig(...))`,
`paypal.build_app(...)`; the control API under `/_fake/` is described in `common.py`.
"""
