// Starts Swagger UI on /docs. A file of its own, not an inline script, so the page keeps script-src 'self'.
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No calls home: the validator badge would fetch from the internet.
    validatorUrl: null,
  });
});
