"""The mixed load (issue 20): Locust users doing what the platform's users do, all at once,
through nginx; `sichrplace bench mixed`, the load gate of the test command, and the load the
fault matrix and the soak run under."""
