// Numbers the figures and says when captions are ready, as photo reports often do.
(function () {
  'use strict';
  var figures = document.querySelectorAll('figure');
  var numbered = 0;
  Array.prototype.forEach.call(figures, function (figure, index) {
    var caption = figure.querySelector('figcaption');
    if (!caption) {
      return;
    }
    var label = document.createElement('strong');
    label.textContent = 'Photo ' + (index + 1) + '. ';
    caption.insertBefore(label, caption.firstChild);
    numbered += 1;
  });
  var images = document.querySelectorAll('figure img');
  var loaded = 0;
  function report() {
    var status = document.getElementById('caption-status');
    if (status) {
      status.textContent = numbered + ' captions numbered; ' + loaded + ' of ' + images.length + ' photographs loaded.';
    }
  }
  Array.prototype.forEach.call(images, function (img) {
    if (img.complete) {
      loaded += 1;
    } else {
      img.addEventListener('load', function () { loaded += 1; report(); });
    }
  });
  report();
}());
