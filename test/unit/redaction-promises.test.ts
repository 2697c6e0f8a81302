// Every redaction DEBUGGING.md promises (its "Redaction" section), one row each: the secret
// words and headers by name, and each shape by value (URL userinfo, query and form pairs, JSON and
// object literals, credentials, PEM keys, each well-known key format). A row's input holds only
// the shape it is about, so removing any one rule (a word, a header, a pattern, one alternative
// of the key formats) fails its row.
import { describe, expect, it } from 'vitest';
import { dirname } from 'node:path';
import { sourceOf } from '../../diagnostics/finish.js';
import type { RemoteObject } from '../../diagnostics/frames.js';
import { Redactor, forgetSecrets, redactDeep, rememberSecret } from '../../diagnostics/redact.js';
import { readLocals } from '../helpers/frame-locals.js';

const redactor = new Redactor();

describe('redaction by name (DEBUGGING.md: the secret words and headers)', () => {
  const secretNames: [string, string][] = [
    ['password', 'password'],
    ['passwords', 'passwords'],
    ['passwd', 'DB_PASSWD'],
    ['passphrase', 'keyPassphrase'],
    ['secret', 'client_secret'],
    ['secrets', 'appSecrets'],
    ['token', 'accessToken'],
    ['apikey', 'x-api-key'],
    ['credential', 'awsCredential'],
    ['credentials', 'credentials'],
    ['private', 'privateKey'],
    ['auth', 'x-auth'],
    ['authorization', 'authorization'],
    ['cookie', 'sessionCookie'],
    ['cookies', 'cookies'],
    ['password (segment)', 'userPassword2'],
    ['token (segment)', 'CSRF_TOKEN'],
    ['apikey (segments written together)', 'apiKey'],
    ['password run together with a prefix (an environment name)', 'PGPASSWORD'],
    ['pwd', 'MYSQL_PWD'],
    ['pwd (a local of that name)', 'pwd'],
    ['pwd (a segment of an environment name)', 'DB_PWD'],
    ['pass (as the last segment)', 'pgPass'],
    ['pass (as the last segment), snake case', 'REDIS_PASS'],
    ['passcode', 'passcode'],
    ['a key under a key\'s name', 'SESSION_KEY'],
    ['a key under a key\'s name, camelCase', 'signingKey'],
    ['a key as text', 'keyHex'],
    ['sessionid', 'x-session-id'],
    ['sid', 'sid'],
    ['otp', 'otp'],
  ];
  it.each(secretNames)('a name with the word %s is secret: %s', (_word, name) => {
    expect(redactor.isSecretName(name)).toBe(true);
  });

  it.each(['tokens', 'tokenizer', 'secretary', 'author', 'keyboard', 'key', 'session', 'bypass', 'compass', 'passThrough'])('%s is not secret (another word)', (name) => {
    expect(redactor.isSecretName(name)).toBe(false);
  });

  it.each(['PWD', 'OLDPWD', 'SSH_AUTH_SOCK', 'PASSWORD_STORE_DIR'])('%s, an environment variable the shell or a well-known tool sets to a place, is not secret', (name) => {
    expect(redactor.isSecretName(name)).toBe(false);
  });

  it('a `redact` pattern still makes PWD secret', () => {
    expect(new Redactor('pwd').isSecretName('PWD')).toBe(true);
  });

  it.each(['authTagLength', 'tokenCount', 'passwordType', 'tokenExpiresAt'])('%s describes a secret without holding it: not secret', (name) => {
    expect(redactor.isSecretName(name)).toBe(false);
  });

  // Q4's addendum: where a secret is served or kept, and how long to wait for it, are not secrets; a
  // URL with a password or a secret query value is still redacted by its shape.
  it.each(['authUrl', 'AUTH_ISSUER', 'AUTH0_DOMAIN', 'authTimeoutMs', 'tokenEndpoint', 'secretsPath', 'AUTH_REALM', 'tokenHost'])('%s names a place or a duration of a secret, not the secret: not secret', (name) => {
    expect(redactor.isSecretName(name)).toBe(false);
  });

  it.each(['authToken', 'AUTH_SECRET', 'authKey', 'tokenValue', 'auth'])('%s still holds a secret', (name) => {
    expect(redactor.isSecretName(name)).toBe(true);
  });

  it.each(['authorization', 'proxy-authorization', 'cookie', 'set-cookie'])('the %s header is secret', (header) => {
    expect(redactor.isSecretHeader(header)).toBe(true);
  });

  // review20.2: an `Authentication: <token>` header (some APIs' name for Authorization) and a
  // webhook's signature (an HMAC of the body: whoever has it can replay that delivery) were shown
  // in dumps, in their header and in a local holding them.
  it.each(['authentication', 'x-hub-signature-256', 'x-hub-signature', 'stripe-signature', 'x-shopify-hmac-sha256', 'x-slack-signature', 'x-twilio-signature'])('the %s header is secret in a dump, and a local holding its value', (header) => {
    forgetSecrets();
    const value = 'sha256=0f1e2d3c4b5a69788796a5b4c3d2e1f0';
    expect(redactor.headers({ [header]: value, accept: '*/*' }, [])).toEqual({ [header]: '[redacted]', accept: '*/*' });
    expect(redactor.query(`sig is ${value}`)).toBe('sig is [redacted]');
  });

  it.each(['x-signature-algorithm', 'signature', 'signatureHelp', 'hmacLength', 'x-request-id'])('%s is not a secret header (a signature header names one with a `-`; the last segment describes)', (name) => {
    expect(redactor.isSecretKey(name)).toBe(false);
  });
});

// review17.4: plural and compound forms of the secret words, one-time codes, a PIN and session
// headers, each where a secret name is read: a request header, a JSON body, a form body, a query
// string and a dump's local; and the counts beside them (an LLM's max_tokens) kept in all five.
describe('names beyond the single secret words (review17.4), in every place a name is read', () => {
  /** The local `name` holding `value`, as a dump shows it. */
  const local = (name: string, value: RemoteObject): unknown => readLocals([{ name, value }])[name];
  /** [what, name as an app writes it, the header carrying it (node's lower case)] */
  const secret: [string, string, string][] = [
    ['api keys (camelCase plural)', 'apiKeys', 'x-api-keys'],
    ['api keys (snake_case plural)', 'api_keys', 'api-keys'],
    ['access tokens (a compound plural; `tokens` alone stays)', 'accessTokens', 'x-access-tokens'],
    ['refresh tokens', 'refresh_tokens', 'x-refresh-tokens'],
    ['signing keys (a key under a key\'s name, plural)', 'signingKeys', 'x-signing-keys'],
    ['passcodes', 'passcodes', 'x-passcodes'],
    ['session ids', 'sessionIds', 'x-session-ids'],
    ['a TOTP code', 'totp_code', 'x-totp-code'],
    ['a TOTP alone', 'totp', 'x-totp'],
    ['an HOTP', 'hotp', 'x-hotp'],
    ['an MFA code', 'mfaCode', 'x-mfa-code'],
    ['a 2FA code', '2fa_code', 'x-2fa-code'],
    ['a one-time code', 'oneTimeCode', 'x-one-time-code'],
    ['recovery codes', 'recoveryCodes', 'x-recovery-codes'],
    ['a PIN', 'pin', 'x-pin'],
    ['a PIN in capitals', 'CARD_PIN', 'x-card-pin'],
    ['a PIN code', 'pinCode', 'x-pin-code'],
    ['a session header\'s name', 'x-session', 'x-session'],
    ['a session id', 'x-session-id', 'x-session-id'],
    ['a session, a string', 'session', 'session'],
    ['a session id run together', 'sessionid', 'sessionid'],
    ["an API Management subscription key (review19.8)", 'subscriptionKey', 'ocp-apim-subscription-key'],
    // review20.3: a card's security code beside its (redacted) number; PCI DSS forbids keeping it
    ['a card security code', 'cvv', 'x-cvv'],
    ['a CVV2 in a card object', 'card_cvv2', 'x-card-cvv2'],
    ['a CVC', 'cardCvc', 'x-card-cvc'],
    ['a security code', 'securityCode', 'x-security-code'],
    // review20.13: keys under a key's name as well-known services send them (node lower-cases a header's name)
    ["RapidAPI's key header", 'x-rapidapi-key', 'x-rapidapi-key'],
    ["Azure Functions' key", 'functionsKey', 'x-functions-key'],
    ["New Relic's license key", 'NEW_RELIC_LICENSE_KEY', 'x-newrelic-license-key'],
  ];
  const cases = secret.map(([what, name, header], i) => [what, name, header, `v${i}-Zq81kX0pLm`] as const);

  it.each(cases)('%s: %s is redacted in a header (%s), a JSON body, a form body, a query string and a dump local', (_what, name, header, value) => {
    forgetSecrets(); // each place must redact by the name, not by a value remembered at another
    expect(redactor.headers({ [header]: value, accept: '*/*' }, [])).toEqual({ [header]: '[redacted]', accept: '*/*' });
    forgetSecrets();
    expect(redactor.query(`{"${name}":"${value}","n":1}`)).toBe(`{"${name}":"[redacted]","n":1}`);
    forgetSecrets();
    expect(redactor.query(`${name}=${value}&n=1`)).toBe(`${name}=[redacted]&n=1`);
    forgetSecrets();
    expect(redactor.query(`/login?${name}=${value}&page=2`)).toBe(`/login?${name}=[redacted]&page=2`);
    forgetSecrets();
    expect(local(name, { type: 'string', value })).toBe('[redacted]');
  });

  /** [name, header]: counts and other words, with a value that is not a secret. */
  const kept: [string, string][] = [
    ['tokens', 'x-tokens'],
    ['max_tokens', 'x-max-tokens'],
    ['token_count', 'x-token-count'],
    ['tokenCount', 'x-token-count'],
    ['prompt_tokens', 'x-prompt-tokens'],
    ['completionTokens', 'x-completion-tokens'],
    ['pinned', 'x-pinned'],
    ['isPinned', 'x-is-pinned'],
    ['spinner', 'x-spinner'],
    ['pinCount', 'x-pin-count'],
    ['pins', 'x-pins'],
    ['sessions', 'x-sessions'],
    ['sessionCount', 'x-session-count'],
  ];
  it.each(kept)('%s is kept in a header (%s), a JSON body, a form body, a query string and a dump local', (name, header) => {
    forgetSecrets();
    expect(redactor.headers({ [header]: '4096' }, [])).toEqual({ [header]: '4096' });
    expect(redactor.query(`{"${name}":4096,"label":"run-7"}`)).toBe(`{"${name}":4096,"label":"run-7"}`);
    expect(redactor.query(`${name}=4096&n=1`)).toBe(`${name}=4096&n=1`);
    expect(redactor.query(`/usage?${name}=4096&page=2`)).toBe(`/usage?${name}=4096&page=2`);
    expect(local(name, { type: 'number', value: 4096, description: '4096' })).toBe(4096);
  });

  it('an object under `session` is shown in text (its own secret keys redacted), as it is as a local; a word list naming `session` loses no element, nor prose its word after `session:`', () => {
    forgetSecrets();
    expect(redactor.query('{"session":{"views":3,"token":"t-81kX0pLm"},"n":1}')).toBe('{"session":{"views":3,"token":"[redacted]"},"n":1}');
    expect(redactor.query('{"scopes":["openid","session","profile"]}')).toBe('{"scopes":["openid","session","profile"]}');
    // A bare word after `session:` in prose is the message's, not a quoted string value.
    expect(redactor.query('login failed, session: expired')).toBe('login failed, session: expired');
  });

  it("a session header's value is redacted after its name in a flat name/value array (node's rawHeaders), in text and in an error's fields", () => {
    forgetSecrets();
    expect(redactor.query('["Host","a","X-Session","sess-Zq81kX0pLm"]')).toBe('["Host","a","X-Session","[redacted]"]');
    forgetSecrets();
    expect(redactDeep({ rawHeaders: ['Host', 'a', 'X-Session', 'sess-Zq81kX0pLm'], session: 'sess-Zq81kX0pLm' }, redactor)).toEqual({ rawHeaders: ['Host', 'a', 'X-Session', '[redacted]'], session: '[redacted]' });
  });
});

describe('redaction by value, whatever the name (DEBUGGING.md: the shapes)', () => {
  const rows: [string, string, string][] = [
    ['URL userinfo', 'connect postgres://app:s3cret@db/x failed', 'connect postgres://app:[redacted]@db/x failed'],
    ['URL userinfo, https', 'GET https://svc:pw@host/v1', 'GET https://svc:[redacted]@host/v1'],
    ['a form body pair', 'user=ann&password=hunter2', 'user=ann&password=[redacted]'],
    ['a query pair', '/pay?amount=3&token=t0k', '/pay?amount=3&token=[redacted]'],
    ['a pair in prose, closing punctuation kept', 'cannot reach db (token=abcd1234secretTOKEN).', 'cannot reach db (token=[redacted]).'],
    ['a presigned URL (a query name beyond the secret words)', 'GET /f?X-Amz-Signature=ab12&page=2', 'GET /f?X-Amz-Signature=[redacted]&page=2'],
    ["Sentry's auth parameter", 'POST /api/1/envelope/?sentry_key=SentryKey-2&sentry_version=7', 'POST /api/1/envelope/?sentry_key=[redacted]&sentry_version=7'],
    ['a connection-string pair', 'Server=db;Password=x9', 'Server=db;Password=[redacted]'],
    ['a JSON key', '{"password":"hunter3"}', '{"password":"[redacted]"}'],
    ['an object-literal key', "{ apiKey: 'k-1' }", "{ apiKey: '[redacted]' }"],
    ['JSON nested under a secret-named key (a parsed body): the object replaced whole, the text around it kept', '{"user":{"credentials":{"password":"pw-9","pin":"4410"}},"n":1}', '{"user":{"credentials":[redacted]},"n":1}'],
    ['an object literal under a secret-named key: replaced whole, as a captured value is', "{ auth: { user: 'bob', key: 'abc-9' }, retry: 2 }", '{ auth: [redacted], retry: 2 }'],
    ['an array under a secret-named key: every element, not the first alone', '{"password":["abc123xyz","x2"],"user":"ann"}', '{"password":[redacted],"user":"ann"}'],
    ['an object under a secret-named key in a text cut short', '{"secrets":{"db":"pw-1","api":"k-2"', '{"secrets":[redacted]'],
    ['brackets inside strings of a secret object do not end it early', '{"secrets":{"a":"x}]y","b":"pw-3"},"ok":true}', '{"secrets":[redacted],"ok":true}'],
    ['JSON quoted in an inspected field', `{ body: '{"a":1,"password":"abc12345", broken', type: 'entity.parse.failed' }`, `{ body: '{"a":1,"password":"[redacted]", broken', type: 'entity.parse.failed' }`],
    ['an assignment', 'token = "t-2"', 'token = "[redacted]"'],
    ['Bearer as a whole value', 'Bearer abc.def', 'Bearer [redacted]'],
    ['Basic as a whole value', 'Basic dXNlcjpwYXNz', 'Basic [redacted]'],
    ['Digest as a whole value', 'Digest 7f3a9c', 'Digest [redacted]'],
    ['Token in a quoted string', 'sent "Token q81x" upstream', 'sent "Token [redacted]" upstream'],
    ['Bearer inside prose', 'upstream refused Bearer eyJhbGciOiJIUzI1NiJ9x today', 'upstream refused Bearer [redacted] today'],
    ['a credential as a pair\'s value in prose', 'refused (auth=Bearer Q1w2e3r4t5y6u7i8, retry)', 'refused (auth=Bearer [redacted], retry)'],
    ['a Token credential as a pair\'s value in prose', 'sent authorization=Token abcdef123456 upstream', 'sent authorization=Token [redacted] upstream'],
    ['a PEM private key', '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----', '-----BEGIN RSA PRIVATE KEY-----[redacted]-----END RSA PRIVATE KEY-----'],
    ['a Stripe live key', 'charge failed for sk_live_4eC39HqLyjWD today', 'charge failed for [redacted] today'],
    ['a Stripe test key', 'charge failed for sk_test_4eC39HqLyjWD today', 'charge failed for [redacted] today'],
    ['a Stripe restricted live key', 'charge failed for rk_live_9aB8cD7eF6 today', 'charge failed for [redacted] today'],
    ['a Stripe restricted test key', 'charge failed for rk_test_9aB8cD7eF6 today', 'charge failed for [redacted] today'],
    ['a GitHub personal token', 'push with ghp_16C7e42F292c6912E7710c838347Ae178B4a now', 'push with [redacted] now'],
    ['a GitHub OAuth token', 'push with gho_16C7e42F292c6912E7710c838347Ae178B4a now', 'push with [redacted] now'],
    ['a GitHub user-to-server token', 'push with ghu_16C7e42F292c6912E7710c838347Ae178B4a now', 'push with [redacted] now'],
    ['a GitHub server-to-server token', 'push with ghs_16C7e42F292c6912E7710c838347Ae178B4a now', 'push with [redacted] now'],
    ['a GitHub refresh token', 'push with ghr_16C7e42F292c6912E7710c838347Ae178B4a now', 'push with [redacted] now'],
    ['a Slack bot token', 'post with xoxb-2634528-1234567890 now', 'post with [redacted] now'],
    ['a Slack user token', 'post with xoxp-2634528-1234567890 now', 'post with [redacted] now'],
    ['a Slack app token', 'post with xoxa-2634528-1234567890 now', 'post with [redacted] now'],
    ['a Slack refresh token', 'post with xoxr-2634528-1234567890 now', 'post with [redacted] now'],
    ['a Slack legacy token', 'post with xoxs-2634528-1234567890 now', 'post with [redacted] now'],
    ['an AWS access key id', 'S3 denied AKIAIOSFODNN7EXAMPLE here', 'S3 denied [redacted] here'],
    ['a JWT', 'got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fw back', 'got [redacted] back'],
    // review20.11: a raw multipart body an app read into a string (a local in a dump): a secret-named part's value
    [
      'a multipart part under a secret name',
      '--X9\r\nContent-Disposition: form-data; name="user"\r\n\r\nann\r\n--X9\r\nContent-Disposition: form-data; name="password"\r\nContent-Type: text/plain\r\n\r\ns3cretPW1\r\n--X9--\r\n',
      '--X9\r\nContent-Disposition: form-data; name="user"\r\n\r\nann\r\n--X9\r\nContent-Disposition: form-data; name="password"\r\nContent-Type: text/plain\r\n\r\n[redacted]\r\n--X9--\r\n',
    ],
    ['a multipart part under a secret name, the text cut short', '--X9\r\nContent-Disposition: form-data; name="api_key"\r\n\r\nk-77abc…', '--X9\r\nContent-Disposition: form-data; name="api_key"\r\n\r\n[redacted]'],
  ];
  it.each(rows)('%s', (_shape, input, shown) => {
    forgetSecrets(); // a value another row redacted must not be scrubbed here from memory
    expect(redactor.query(input)).toBe(shown);
  });

  it("a flat name/value array in an error's fields or a log field: the value after a header name goes, not the one after a text that mentions a secret word", () => {
    forgetSecrets();
    expect(redactDeep({ notes: ['reset your password here', 'kept-note-2', 'X-Api-Key', 'k-123456'] }, redactor)).toEqual({ notes: ['reset your password here', 'kept-note-2', 'X-Api-Key', '[redacted]'] });
  });

  it("leaves a TLS bind's file names alone (ssl://'s key= names the key's file), and tspuma's own usage text", () => {
    forgetSecrets();
    const bind = 'Bind `ssl://127.0.0.1:9443?cert=/etc/tls/site.crt&key=/etc/tls/site.key` (-b in command line): the key file /etc/tls/site.key does not exist.';
    expect(redactor.query(bind)).toBe(bind);
    const usage = 'Expected tcp://HOST:PORT, unix://PATH or ssl://HOST:PORT?cert=FILE&key=FILE.';
    expect(redactor.query(usage)).toBe(usage);
  });

  it('a key= parameter of any other URL stays secret (an API key in a query string)', () => {
    forgetSecrets();
    expect(redactor.query('GET https://maps.example.test/api?key=AIzaSyA-1234&q=x')).toBe('GET https://maps.example.test/api?key=[redacted]&q=x');
  });

  it("leaves a stack frame's position alone when the file's name has a secret word: secrets-app.ts:10:11", () => {
    forgetSecrets();
    const frame = '    at checkLogin (/srv/app/src/secrets-app.ts:10:11)\n    at /srv/app/src/auth-token.mjs:3:1';
    expect(redactor.query(frame)).toBe(frame);
  });

  it('leaves prose that only names a scheme alone: "Basic authentication required"', () => {
    forgetSecrets();
    expect(redactor.query('Basic authentication required')).toBe('Basic authentication required');
  });
});

describe('a key shape cut short by a preview (V8 abbreviates a string of 100+ characters: head…tail)', () => {
  // An object's preview shows a long string as its first and last characters around '…': the
  // head matches the key's shape, and the tail is the rest of the same key, so it goes too.
  const ten = 'A1b2C3d4E5';
  const rows: [string, string, string][] = [
    ['a Stripe key, abbreviated in the middle', `Object {user: "bob", note: "sk_live_${ten.repeat(4)}…${ten.repeat(4)}TAILSECRET"}`, 'Object {user: "bob", note: "[redacted]"}'],
    ['a GitHub token, abbreviated in the middle', `Object {memo: "ghp_${ten.repeat(4)}…${ten.repeat(4)}TAILGH", n: 2}`, 'Object {memo: "[redacted]", n: 2}'],
    ['a JWT cut inside its signature', 'Object {jwt: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyZ…huIn0.Sfl"}', 'Object {jwt: "[redacted]"}'],
    ['a JWT cut inside its payload', 'jwt="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyZXZpZXcxNSIsIm5hbWUiOiJKb2…"', 'jwt="[redacted]"'],
  ];
  it.each(rows)('%s', (_shape, input, shown) => {
    forgetSecrets();
    expect(redactor.query(input)).toBe(shown);
  });

  it('a cut value alone is a secret value (a local or a property shown by itself)', () => {
    expect(redactor.isSecretValue(`sk_live_${ten.repeat(4)}…${ten.repeat(4)}TAILSECRET`)).toBe(true);
    expect(redactor.isSecretValue('eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyZ…huIn0.Sfl')).toBe(true);
    // A sentence's full stop after a whole key stays the sentence's.
    forgetSecrets();
    expect(redactor.query('charge failed for sk_live_4eC39HqLyjWD.')).toBe('charge failed for [redacted].');
  });
});

describe('a remembered value cut short by a preview (head…tail)', () => {
  it('an opaque token of 100+ characters remembered from its header is redacted where a preview shows it cut, head and tail', () => {
    forgetSecrets();
    const token = `Opaque${'q7W2e9R4t1'.repeat(12)}END`;
    rememberSecret(token);
    // V8's preview of a long string: its first 50 characters, '…', its last 49.
    const middle = `Object {copy: "${token.slice(0, 50)}…${token.slice(-49)}", n: 1}`;
    expect(redactor.query(middle)).toBe('Object {copy: "[redacted]", n: 1}');
    // A preview cut at its end: the first 99 characters and '…'.
    expect(redactor.query(`Object {copy: "${token.slice(0, 99)}…"}`)).toBe('Object {copy: "[redacted]"}');
  });
});

describe('redaction follows the value (DEBUGGING.md), except a folder every path starts with', () => {
  it('a value redacted by its name is replaced in later text', () => {
    forgetSecrets();
    rememberSecret('s3cr3t-value-77');
    expect(redactor.query('login failed for s3cr3t-value-77')).toBe('login failed for [redacted]');
  });

  it('redacting text twice changes nothing: a redacted query value before closing punctuation keeps one bracket (S11.1)', () => {
    forgetSecrets();
    const once = redactor.query('tspuma dump #3 [app] TypeError: x (request 55 POST /api/orders/1001/coupon?code=BOGUS)');
    expect(once).toBe('tspuma dump #3 [app] TypeError: x (request 55 POST /api/orders/1001/coupon?code=[redacted])');
    expect(redactor.query(redactor.query(once))).toBe(once);
    expect(redactor.query('/coupon?code=[redacted]')).toBe('/coupon?code=[redacted]');
  });

  it('a remembered secret that is the start of a longer key redacts the whole key, not its start only (S2: a test key and its longer live key)', () => {
    forgetSecrets();
    rememberSecret('pro-abc');
    rememberSecret('sk-rot-2024');
    // The longer key is scrubbed before it is itself remembered (a local read before the header).
    expect(redactor.query('presented=pro-abc12345xyz')).toBe('presented=[redacted]');
    expect(redactor.query('127.0.0.1:39505|curl/7.88.1|*/*|pro-abc12345xyz')).toBe('127.0.0.1:39505|curl/7.88.1|*/*|[redacted]');
    expect(redactor.query('rotated from xsk-rot-2024-b to sk-rot-2024; saw pro-abc.')).toBe('rotated from [redacted] to [redacted]; saw [redacted].');
    // Remembered later too: the longer value first, whatever the order they were remembered in.
    rememberSecret('pro-abc12345xyz');
    expect(redactor.query('key was pro-abc12345xyz/orders')).toBe('key was [redacted]/orders');
  });

  it('a remembered secret that starts with a shorter one remembered earlier is replaced whole: no "[redacted]12345xyz" (S2)', () => {
    forgetSecrets();
    rememberSecret('pro-abc'); // an earlier request's key
    rememberSecret('pro-abc12345xyz'); // this request's, which starts with it
    expect(redactor.query('key=pro-abc12345xyz, then pro-abc alone')).toBe('key=[redacted], then [redacted] alone');
    rememberSecret('pro-abc'); // remembered again: still replaced after the longer one
    expect(redactor.query('presented pro-abc12345xyz')).toBe('presented [redacted]');
  });

  it("a redacted Cookie header's token-like values are remembered one by one, raw and decoded; its short words are not (S15)", () => {
    forgetSecrets();
    const headers = redactor.headers({ cookie: 'theme=dark; shop_session=s%3AQx7bV2kLp9ZrT4mN8wY1.aBcDeFgHiJkLmNoP; lang=english' }, []);
    expect(headers.cookie).toBe('[redacted]');
    expect(redactor.query('sess=s%3AQx7bV2kLp9ZrT4mN8wY1.aBcDeFgHiJkLmNoP')).toBe('sess=[redacted]');
    expect(redactor.query('sid s:Qx7bV2kLp9ZrT4mN8wY1.aBcDeFgHiJkLmNoP looked up')).toBe('sid [redacted] looked up');
    expect(redactor.query('theme dark, lang english')).toBe('theme dark, lang english');
  });

  it("a Basic credential's password is remembered alone too: an app that decodes and splits it shows it redacted", () => {
    forgetSecrets();
    redactor.headers({ authorization: `Basic ${Buffer.from('ann:opensesame-42').toString('base64')}` }, []);
    expect(redactor.query('checking password opensesame-42 for ann')).toBe('checking password [redacted] for ann');
  });

  it.each([
    ['the working directory', () => process.cwd()],
    ['a folder above the working directory', () => dirname(process.cwd())],
  ])('%s, redacted by a secret name, is not remembered: a path under it stays', (_what, place) => {
    forgetSecrets();
    const dir = place();
    expect(redactor.query(`APP_SECRET_DIR=${dir}`)).toBe('APP_SECRET_DIR=[redacted]');
    expect(redactor.query(`ENOENT: no such file or directory, open '${dir}/config/production.json'`)).toBe(`ENOENT: no such file or directory, open '${dir}/config/production.json'`);
  });
});

describe("the culprit's source line (DEBUGGING.md: redacted like a value)", () => {
  const frame = { function: 'stockOf', file: 'src/express2.ts', line: 7, column: 21, receiver: 'undefined', locals: {} };
  const line = (text: string) => sourceOf(frame, redactor, () => text)!.text;

  it("keeps an identifier after a secret key: { 'x-api-key': apiKey } names a parameter, not a key", () => {
    forgetSecrets();
    const text = "  const res = await fetch(`${INVENTORY_URL}/${sku}`, { headers: { 'x-api-key': apiKey, authorization: this.token, token: getToken() } });";
    expect(line(text)).toBe(text);
  });

  it('still redacts a literal there: a quoted string or a number', () => {
    forgetSecrets();
    expect(line("  const headers = { 'x-api-key': 'k-live-12345', passcode: 123456 };")).toBe("  const headers = { 'x-api-key': '[redacted]', passcode: [redacted] };");
  });
});
