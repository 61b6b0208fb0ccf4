"""An example FastAPI service that cancels OPay payments with opay-async."""
