// The interactive API reference at /docs: Swagger UI, with its script and styles served by
// the Worker itself (bundled from the swagger-ui-dist package), so it works offline.
import { swaggerUI } from "@hono/swagger-ui";
import { Hono } from "hono";
import swaggerUiDist from "swagger-ui-dist/package.json";
import styles from "swagger-ui-dist/swagger-ui.css";
import script from "swagger-ui-dist/swagger-ui-bundle.js";
import scriptLicense from "swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt";
import type { AppEnv } from "./router";

// The version is part of the assets' paths, so a browser may keep them for good.
const { version } = swaggerUiDist;
const ASSETS = `/swagger-ui-dist@${version}`;
const FOREVER = "public, max-age=31536000, immutable";

function asset(text: string, contentType: string) {
  return new Response(text, { headers: { "content-type": contentType, "cache-control": FOREVER } });
}

export const docs = new Hono<AppEnv>()
  .get(
    "/",
    swaggerUI({
      url: "/openapi.json",
      // Asset URLs are `${baseUrl}/swagger-ui-dist@${version}/...`: the routes below.
      baseUrl: "/docs",
      version,
      // Swagger UI would otherwise send the spec's URL to an online validator.
      validatorUrl: "none",
      title: "hyperfleet API",
    }),
  )
  .get(`${ASSETS}/swagger-ui-bundle.js`, () => asset(script, "text/javascript; charset=utf-8"))
  .get(`${ASSETS}/swagger-ui.css`, () => asset(styles, "text/css; charset=utf-8"))
  // The script's own comment points here for its licences.
  .get(`${ASSETS}/swagger-ui-bundle.js.LICENSE.txt`, () => asset(scriptLicense, "text/plain; charset=utf-8"));
