// `npm run bench -- <suite>`: runs bench/<suite>.ts, which prints one JSON line per figure:
// {"suite","name","value","unit"} (plus optional fields such as "ratio" and "baseline").
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

const suite = process.argv[2];
const suites = readdirSync(new URL("../bench/", import.meta.url))
  .filter((f) => f.endsWith(".ts") && !f.startsWith("_"))
  .map((f) => f.slice(0, -3));
if (!suite || !existsSync(new URL(`../bench/${suite}.ts`, import.meta.url))) {
  console.error(`usage: npm run bench -- <suite>   (suites: ${suites.join(", ")})`);
  process.exit(2);
}
const run = spawnSync("npx", ["tsx", `bench/${suite}.ts`, ...process.argv.slice(3)], { stdio: "inherit" });
process.exit(run.status ?? 1);
