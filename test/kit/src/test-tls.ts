import { Agent } from "node:https";

/**
 * A fixed TLS identity for the local push service: a self-signed P-256
 * certificate for 127.0.0.1 and localhost, valid 2000–2100. `web-push` only
 * speaks HTTPS (push services are HTTPS, RFC 8030 §8), so the test service
 * must too. The key is public on purpose: trust this certificate in tests
 * only (an `https.Agent` with `ca`, or `NODE_EXTRA_CA_CERTS` for a child
 * process), never in a deployment. Committed rather than generated so tests
 * need no `openssl` binary.
 */
export const TEST_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBjDCCATOgAwIBAgIBATAKBggqhkjOPQQDAjAnMSUwIwYDVQQDDBx0aHJlYWRs
aW5lIHRlc3QgcHVzaCBzZXJ2aWNlMCAXDTAwMDEwMTAwMDAwMFoYDzIxMDAwMTAx
MDAwMDAwWjAnMSUwIwYDVQQDDBx0aHJlYWRsaW5lIHRlc3QgcHVzaCBzZXJ2aWNl
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPRxYvcrusfrziuVdorm143FN/TlD
ILqkPplM11jUY9UeS+NnDmRT38LPRoh5a/WqL/XzNST5NTsp/gbL9QjKiaNOMEww
GgYDVR0RBBMwEYcEfwAAAYIJbG9jYWxob3N0MA8GA1UdEwEB/wQFMAMBAf8wHQYD
VR0OBBYEFHQDAFbc8zhWNg1ROgv4PT0sk9GBMAoGCCqGSM49BAMCA0cAMEQCIFvB
ihUewQE/1koC0HJ8iNXd7PMJUKu0syuYU3zyr5tVAiAovYTBnQlFe3eLpRdd7KJa
jlfZUmAwG3o5FQqeOr0PBw==
-----END CERTIFICATE-----
`;

/** The private key of {@link TEST_TLS_CERT}; test use only. */
export const TEST_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVsc5nLRkMte70w13
n41nBmIi4uy7yn9iA5mULfaspOChRANCAAQ9HFi9yu6x+vOK5V2iubXjcU39OUMg
uqQ+mUzXWNRj1R5L42cOZFPfws9GiHlr9aov9fM1JPk1Oyn+Bsv1CMqJ
-----END PRIVATE KEY-----
`;

/** An `https.Agent` that trusts {@link TEST_TLS_CERT} (and nothing else): pass it as `web-push`'s `agent` option. */
export function testTlsAgent(): Agent {
  return new Agent({ ca: TEST_TLS_CERT });
}
