"""`make prove`: suites that attack airlock and report what got through."""
