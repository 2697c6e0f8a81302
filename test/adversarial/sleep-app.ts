// The freeze shape's app: answers after a 1 ms timer, so a client that hangs up is gone by then.
export default async function sleep(): Promise<Response> {
  await new Promise((r) => setTimeout(r, 1));
  return new Response('slept\n');
}
