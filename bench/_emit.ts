// The one output format of every benchmark: a JSON object per line.
export interface Figure {
  suite: string;
  name: string;
  value: number;
  unit: string;
  [extra: string]: unknown;
}

export function emit(figure: Figure): void {
  process.stdout.write(`${JSON.stringify(figure)}\n`);
}
