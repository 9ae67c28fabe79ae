# check_fake_dns exercises the fake resolver itself.
EXTRA_check_fake_dns = tests/fake/fake_dns.c
