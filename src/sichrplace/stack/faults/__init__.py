"""The stack's side of fault injection: driving the fault proxy, placing it in the APIs'
paths (arm/disarm), and the media folder's full disk."""
