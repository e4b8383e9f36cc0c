"""Viewings: a listing's viewing slots, paid bookings of them, and the calendar feed."""
