// Starts Swagger UI on the OpenAPI document the page names (data-url). A file of its own:
// the page's Content-Security-Policy allows no inline script.
"use strict";

window.addEventListener("load", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.url,
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayRequestDuration: true,
    // No online validator badge: the explorer asks nothing of another host.
    validatorUrl: null,
    // The token given to "Authorize" lives in the page only, never in the browser's storage.
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
