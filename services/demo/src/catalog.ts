/**
 * The demo shop's data: a small fixed catalog, orders, stores and policies
 * (deterministic). Shared by the agents and the web page (its product list).
 */
export interface Product {
  sku: string;
  name: string;
  price: number;
  stock: number;
  specs: Record<string, string>;
  rating: number;
  reviews: number;
}

export const PRODUCTS: readonly Product[] = [
  {
    sku: "HP-900",
    name: "Aurora ANC headphones",
    price: 249,
    stock: 14,
    specs: { battery: "38 h", weight: "254 g", noiseCancelling: "adaptive" },
    rating: 4.6,
    reviews: 1812,
  },
  {
    sku: "HP-700",
    name: "Pulse wireless headphones",
    price: 149,
    stock: 31,
    specs: { battery: "30 h", weight: "230 g", noiseCancelling: "basic" },
    rating: 4.2,
    reviews: 964,
  },
  {
    sku: "LP-14",
    name: "Nimbus 14 laptop",
    price: 1199,
    stock: 6,
    specs: { cpu: "8-core", memory: "16 GB", weight: "1.3 kg" },
    rating: 4.5,
    reviews: 402,
  },
  {
    sku: "CAM-4K",
    name: "Vista 4K camera",
    price: 699,
    stock: 9,
    specs: { sensor: "1 inch", video: "4K60", weight: "420 g" },
    rating: 4.4,
    reviews: 288,
  },
];

export interface Order {
  id: string;
  sku: string;
  deliveredDaysAgo: number;
}

export const ORDERS: readonly Order[] = [
  { id: "1042", sku: "HP-700", deliveredDaysAgo: 9 },
  { id: "1043", sku: "CAM-4K", deliveredDaysAgo: 45 },
];

export const STORES = [
  { name: "Threadline Electronics Downtown", lat: 52.52, lon: 13.405 },
  { name: "Threadline Electronics Riverside", lat: 52.5, lon: 13.45 },
  { name: "Threadline Electronics Airport", lat: 52.36, lon: 13.5 },
] as const;

/** Returns are accepted within this many days of delivery. */
export const RETURN_WINDOW_DAYS = 30;

/** The product the text names (by name words or SKU), if any. */
export function mentionedProduct(text: string): Product | undefined {
  const lower = text.toLowerCase();
  return (
    PRODUCTS.find((p) => lower.includes(p.sku.toLowerCase())) ??
    PRODUCTS.find((p) =>
      p.name
        .toLowerCase()
        .split(" ")
        .some((w) => w.length > 4 && lower.includes(w)),
    ) ??
    PRODUCTS.find((p) => lower.includes("laptop") && p.sku.startsWith("LP")) ??
    PRODUCTS.find((p) => lower.includes("camera") && p.sku.startsWith("CAM"))
  );
}

/** The product with this SKU, if the catalog has it. */
export function productBySku(sku: string | undefined): Product | undefined {
  return sku === undefined ? undefined : PRODUCTS.find((p) => p.sku === sku);
}

/**
 * The product a request is about: the one the text names, else the one the
 * customer is looking at (`viewing`: the SKU in the shared `page` object),
 * else the first of the catalog.
 */
export function findProduct(text: string, viewing?: string): Product {
  return mentionedProduct(text) ?? productBySku(viewing) ?? PRODUCTS[0]!;
}

/** The order the text mentions by number, or the most recent one. */
export function findOrder(text: string): Order {
  return ORDERS.find((o) => text.includes(o.id)) ?? ORDERS[0]!;
}

/** Great-circle distance in km. */
export function distanceKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}

/** Stores nearest to a position, closest first (the server-side tool fed by the browser's location). */
export function nearbyStores(position: { lat: number; lon: number }, limit = 2) {
  return STORES.map((s) => ({ ...s, km: Math.round(distanceKm(position, s) * 10) / 10 }))
    .sort((a, b) => a.km - b.km)
    .slice(0, limit);
}
