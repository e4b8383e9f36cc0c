"""Personal data (GDPR): the caller's data export and the deletion of their account."""
