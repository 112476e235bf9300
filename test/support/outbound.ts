// The outbound policy the tests run with: every test server (Dovecot, Radicale, sinks, fakes) listens on
// loopback, which production refuses by default, so tests allow exactly 127.0.0.1 and localhost.
import { createOutboundPolicy, parseAllowedHosts } from '../../src/net/outbound-policy.js';

/** CONVERSA_ALLOWED_HOSTS for servers and CLIs started by tests. */
export const TEST_ALLOWED_HOSTS = '127.0.0.1,localhost';

/** For direct calls (testMailConnection, drivers) that take a policy. */
export const testOutbound = createOutboundPolicy({ allowed: parseAllowedHosts(TEST_ALLOWED_HOSTS) });
