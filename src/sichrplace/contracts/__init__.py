"""Rental contracts: drafted by the landlord, frozen as a PDF on send, signed by both parties
against the document's SHA-256, with an append-only audit trail and the deposit's payment."""
