/**
 * The name of each event type of a bottle's history, in Chinese and English: the consumer page's
 * history, the console's bottle states and the in-browser verifier's steps (bundled into it, so
 * this file holds nothing else). A new event type without a label here does not compile.
 */
import { labels, type EventType } from "../core/vocabulary.ts";

export const STEP_LABELS = {
  zh: labels<EventType>({
    production: "生产",
    warehouse_in: "入库",
    warehouse_out: "出库发货",
    store_receiving: "门店收货",
    retail_sale: "零售售出",
    opened: "开瓶",
    consumer_scan: "消费者验证",
    epcis: "供应链作业",
    claimed: "买家登记（会员）",
  }),
  en: labels<EventType>({
    production: "Produced",
    warehouse_in: "Into warehouse",
    warehouse_out: "Shipped",
    store_receiving: "Received by store",
    retail_sale: "Sold",
    opened: "Opened",
    consumer_scan: "Consumer verification",
    epcis: "Supply-chain step",
    claimed: "Registered by its buyer (member)",
  }),
};
