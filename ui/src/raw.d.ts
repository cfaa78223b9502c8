// Vite's `?raw` imports: a file's text, used by tests that run plain scripts (ui/isolation).
declare module "*?raw" {
  const text: string;
  export default text;
}
