// boot.js — runs first (a classic, blocking script in <head>; no inline script anywhere).
// Narrows the page's connect-src to its own origin plus the origin of the model named in
// ?model= (a second CSP meta tag: a page must satisfy every policy, so this can only tighten
// the static one in index.html). Choosing another model reloads the page with its ?model=.
(function () {
  var allowed = ["'self'"];
  var q = new URLSearchParams(location.search).get('model');
  if (q) {
    try {
      var u = new URL(q, location.href);
      if ((u.protocol === 'https:' || u.protocol === 'http:') && u.origin !== location.origin) {
        allowed.push(u.origin);
        // Hugging Face answers /resolve/ with a redirect to its download CDN
        if (/(^|\.)(huggingface\.co|hf\.co)$/.test(u.hostname)) allowed.push('https://*.huggingface.co', 'https://*.hf.co');
      }
    } catch (e) { /* not a URL: app.js reports it */ }
  }
  var m = document.createElement('meta');
  m.httpEquiv = 'Content-Security-Policy';
  m.content = 'connect-src ' + allowed.join(' ');
  document.head.appendChild(m);
  window.__wispConnectSrc = allowed;
})();
