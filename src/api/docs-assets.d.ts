// The licence notes of Swagger UI's script, bundled as text by wrangler's default rule for
// .txt; the script and styles are typed by the `[[rules]]` in worker-configuration.d.ts.
declare module "swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt" {
  const text: string;
  export default text;
}
