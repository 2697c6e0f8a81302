// The seed's LowlevelErrorTest: a middleware that raises before the app ever runs, to see the
// lowlevelErrorHandler at work. Run: npx tspuma examples/raise.ts
// (with -C examples/tspuma.config.ts the config's handler answers instead of the default page).
import { rack, type RackApp } from 'tspuma';
import hello from './hello.js';

function lowlevelErrorTest(_app: RackApp): RackApp {
  return rack(() => {
    throw new Error('Simulated crash before app');
  });
}

export default lowlevelErrorTest(hello as RackApp);
