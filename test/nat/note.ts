/** A line in the test output, indented under the test's title (figures, skip reasons) */
export function note (line: string): void {
  process.stdout.write(`      ${line}\n`)
}
