// npm run bench [-- --quick]: runs every benchmark row and writes bench/results.json.
import { clientRows } from "./client.js";
import { http1Rows } from "./http1.js";
import { report } from "./lib.js";
import { postgresRows } from "./postgres.js";
import { scaleRows } from "./scale.js";
import { serverRows } from "./server.js";
import { verifyRows } from "./verify.js";

const quick = process.argv.includes("--quick");
const out = process.argv.find((a) => a.startsWith("--out="))?.slice(6) ?? new URL("./results.json", import.meta.url).pathname;
const rows = [
  ...(await clientRows({ quick })),
  ...(await serverRows({ quick, store: process.env.BENCH_STORE ?? "sqlite" })),
  ...(await http1Rows({ quick })),
  ...(await postgresRows({ quick })),
  ...(await verifyRows({ quick })),
  ...(await scaleRows()),
];
report(rows, out);
