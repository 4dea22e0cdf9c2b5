// One micro subject called `n` times in sequence, each call awaited: what run.mjs counts.
import { subjects } from '../suites/micro-subjects.mjs';

const [name, n] = [process.argv[2], Number(process.argv[3])];
const make = subjects[name];
if (make === undefined) throw new Error(`unknown subject ${name}`);
const op = make();
for (let i = 0; i < n; i++) await op();
