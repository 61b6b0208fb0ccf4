"""The ``opay-async`` command driven as an operator (or an attacker) would: as a subprocess."""
