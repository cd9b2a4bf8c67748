"""What the tests share: an API client that authenticates as integrations do, factories of users and
payloads, a way to run calls at once, and the real server. Test code only (factory-boy is a development
dependency); the fixtures built on these are in the root conftest.py."""
