// Every placement mounted on the page, so that a change (an accept, a decline, a dismiss)
// redraws them all, and the offers the customer said no to in this page, which a redraw
// leaves out (an offer without a dismiss cooldown would otherwise come straight back).
const mounted = new Map(); // the mount's node → its redraw
const hidden = new Set(); // offer ids dismissed or declined here

export function remember(node, redraw) {
  mounted.set(node, redraw);
}

export const isHidden = (offerId) => hidden.has(offerId);

// After the server has heard of the change: every placement still on the page draws again
// from a fresh list; `offerId` (if given) is one the customer said no to.
export function refreshPlacements(offerId) {
  if (offerId) hidden.add(offerId);
  for (const [node, redraw] of mounted) {
    if (node.isConnected) redraw();
    else mounted.delete(node);
  }
}
