// Starts the self-hosted Swagger UI of /api/docs/ (templates/portal/api_docs/swagger_ui.html).
// drf-spectacular renders this initializer inline; the Content-Security-Policy allows scripts
// from 'self' only, so it lives here and reads what the server knows from data- attributes
// (JSON, written by drf-spectacular's view). Ported from drf_spectacular/swagger_ui.js.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || !window.SwaggerUIBundle) return;
  var data = root.dataset;
  function json(value, fallback) {
    try { return value ? JSON.parse(value) : fallback; } catch (e) { return fallback; }
  }
  var swaggerSettings = json(data.settings, {});
  var oauth2Config = json(data.oauth2Config, {});
  var schemaAuthNames = json(data.schemaAuthNames, []);
  var schemaAuthFailed = false;
  var ui = null;
  var plugins = [];

  // Re-read the schema when the reader signs in or out in the UI (when the schema is not public).
  function reloadSchemaOnAuthChange() {
    function reloading(original) {
      return function () {
        schemaAuthFailed = false;
        setTimeout(function () { ui.specActions.download(); });
        return original.apply(null, arguments);
      };
    }
    return {statePlugins: {auth: {wrapActions: {
      authorizeOauth2: reloading, authorize: reloading, logout: reloading
    }}}};
  }
  if (schemaAuthNames.length > 0) plugins.push(reloadSchemaOnAuthChange);

  function isSchemaUrl(url) {
    return ui !== null && url === new URL(ui.getConfigs().url, document.baseURI).href;
  }

  function responseInterceptor(response) {
    if (!response.ok && isSchemaUrl(response.url) && !schemaAuthFailed) {
      // Retry once without credentials, not in a loop.
      schemaAuthFailed = true;
      setTimeout(function () { ui.specActions.download(); });
    }
    return response;
  }

  function injectAuthCredentials(request) {
    var authorized;
    if (ui !== null) {
      var state = ui.getState().get("auth").get("authorized");
      if (state !== undefined && Object.keys(state.toJS()).length !== 0) authorized = state.toJS();
    } else if ([undefined, "{}"].indexOf(localStorage.authorized) === -1) {
      authorized = JSON.parse(localStorage.authorized);
    }
    if (authorized === undefined) return;
    for (var i = 0; i < schemaAuthNames.length; i++) {
      var auth = authorized[schemaAuthNames[i]];
      if (auth === undefined || auth.schema === undefined) continue;
      var schema = auth.schema;
      if (schema.type === "http" && schema.scheme === "bearer") {
        request.headers.Authorization = "Bearer " + auth.value;
        return;
      } else if (schema.type === "http" && schema.scheme === "basic") {
        request.headers.Authorization = "Basic " + btoa(auth.value.username + ":" + auth.value.password);
        return;
      } else if (schema.type === "apiKey" && schema.in === "header") {
        request.headers[schema.name] = auth.value;
        return;
      } else if (schema.type === "oauth2" && auth.token.token_type === "Bearer") {
        request.headers.Authorization = "Bearer " + auth.token.access_token;
        return;
      }
    }
  }

  function requestInterceptor(request) {
    if (request.loadSpec && schemaAuthNames.length > 0 && !schemaAuthFailed) {
      try { injectAuthCredentials(request); } catch (e) { console.error("schema auth injection failed", e); }
    }
    // "Try it out" on an unsafe method with the session: Django's CSRF check wants the token.
    if (["GET", undefined].indexOf(request.method) === -1 && request.credentials === "same-origin") {
      request.headers[data.csrfHeader] = data.csrfToken;
    }
    return request;
  }

  ui = window.SwaggerUIBundle(Object.assign({
    url: data.schemaUrl,
    dom_id: "#swagger-ui",
    presets: [window.SwaggerUIBundle.presets.apis],
    plugins: plugins,
    layout: "BaseLayout",
    requestInterceptor: requestInterceptor,
    responseInterceptor: responseInterceptor
  }, swaggerSettings));
  if (Object.keys(oauth2Config).length > 0) ui.initOAuth(oauth2Config);
})();
