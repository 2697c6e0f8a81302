// Vitest's setupFiles: runs before each test file, in the worker that runs it. Forks run many
// files one after the other (isolate: false), so what a file must see fresh is set here.
import { refreshSlowness } from './net.js';

refreshSlowness();
