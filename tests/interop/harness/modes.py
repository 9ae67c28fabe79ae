"""The three security modes every peer is run in (issue 9, scenarios 1-3)."""


class Mode:
    def __init__(self, key, scenario, tls, valid_certs, title):
        self.key = key                  # short name used in test names
        self.scenario = scenario        # the scenario number that checks it
        self.tls = tls                  # TLS required on S2S
        self.valid_certs = valid_certs  # certificates chain to the shared CA
        self.title = title

    def __repr__(self):
        return self.key


TLS_VALID = Mode("tls-valid", 1, True, True,
                 "TLS required, valid certificates both ways (SASL EXTERNAL)")
TLS_UNTRUSTED = Mode("tls-untrusted", 2, True, False,
                     "TLS with certificates the peer does not trust: dialback over TLS")
NO_TLS = Mode("no-tls", 3, False, False, "no TLS, dialback only")
ALL = [TLS_VALID, TLS_UNTRUSTED, NO_TLS]
BY_KEY = {m.key: m for m in ALL}
