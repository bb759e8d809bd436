// Signs a webhook body the way each payment provider does, with the provider's own library
// where it publishes one, and checks the result with the provider's own verifier before
// printing it: the tests' signatures never rest on vodgate's reading of the scheme.
//
//   node sign.cjs stripe|paddle|lemonsqueezy <secret> [unix seconds] < body
//
// Prints the header value (Stripe-Signature, Paddle-Signature, X-Signature).
// stripe: stripe.webhooks.generateTestHeaderString, checked with constructEvent.
// paddle: Paddle's SDKs verify but do not sign: HMAC-SHA256 of "{ts}:{body}" with node's
//         crypto, checked with @paddle/paddle-node-sdk's webhooks.isSignatureValid (which
//         allows 5 s of age, so only a signature of now is checked).
// lemonsqueezy: no official Node or Python helper exists (only its Laravel package's
//         middleware, hash_hmac('sha256', body, secret)): node's crypto, hex.
'use strict';
const crypto = require('crypto');

async function main() {
  const [provider, secret, ts] = process.argv.slice(2);
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const body = Buffer.concat(chunks).toString('utf8');
  const now = Math.floor(Date.now() / 1000);
  const t = ts ? Number(ts) : now;
  if (provider === 'stripe') {
    const Stripe = require('stripe');
    const stripe = new Stripe('sk_test_unused');
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp: t });
    // Stripe's verifier with its own tolerance (300 s), for a signature of now.
    if (t === now) stripe.webhooks.constructEvent(body, header, secret);
    process.stdout.write(header);
  } else if (provider === 'paddle') {
    const h1 = crypto.createHmac('sha256', secret).update(`${t}:${body}`).digest('hex');
    const header = `ts=${t};h1=${h1}`;
    if (t === now) {
      const { Paddle } = require('@paddle/paddle-node-sdk');
      const paddle = new Paddle('pdl_sdbx_apikey_unused');
      if (!(await paddle.webhooks.isSignatureValid(body, secret, header))) {
        throw new Error("Paddle's SDK refused the signature");
      }
    }
    process.stdout.write(header);
  } else if (provider === 'lemonsqueezy') {
    process.stdout.write(crypto.createHmac('sha256', secret).update(body).digest('hex'));
  } else {
    throw new Error(`unknown provider ${provider}`);
  }
}
main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
