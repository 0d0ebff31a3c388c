// The demo product page's own script: a cart whose total the Chat Manager reads by selector,
// and a variable set through the bus once it is there.
(function () {
  'use strict';
  var total = 0;
  document.getElementById('add').addEventListener('click', function () {
    total += 39.9;
    document.getElementById('cart-total').textContent = '€' + total.toFixed(2);
  });
  var tries = 0;
  var timer = setInterval(function () {
    var bus = window._genesys && window._genesys.widgets && window._genesys.widgets.bus;
    if (bus && window._cxgate && window._cxgate.chatManager) {
      clearInterval(timer);
      bus.command('ChatManager.setVariable', { name: 'product', value: 'blue kettle' });
    } else if (++tries > 100) {
      clearInterval(timer);
    }
  }, 100);
})();
