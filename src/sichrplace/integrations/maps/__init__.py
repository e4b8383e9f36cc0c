"""Maps service: geocoding behind a provider-neutral interface (`types.Geocoder`)."""
