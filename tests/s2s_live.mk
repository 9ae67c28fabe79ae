EXTRA_check_s2s_live = tests/fake/fake_dns.c
