// Drives the real tiktok-live-connector (npm) against the service, for tests/signer/live.
//
//   node node_client.mjs '<options as JSON>'
//
// Options: prefix (where `npm install --prefix` put the package), signUrl and apiKey (the
// service, as a user configures SignConfig), webHost and webcastHost (TikTok's hosts, the fake
// on loopback: the connector calls loopback hosts over https), uniqueId, roomId (connect by
// room id when set), resolveVia ("service": ask the sign server for the room id instead of
// scraping TikTok), expect (event names to wait for), timeoutMs.
//
// Prints one JSON object a line: {"event": "chat" | "gift" | "like" | "connected" | "error" |
// "connect_error" | "timeout", ...}. Exits 0 once every expected event arrived, 1 when connect()
// failed, 3 on the time-out.
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const options = JSON.parse(process.argv[2]);
const emit = (record) => process.stdout.write(JSON.stringify(record) + "\n");
const text = (value) => (value === undefined || value === null ? null : String(value));

// The package lives outside the repository: resolve it from the install prefix.
const require = createRequire(join(options.prefix, "package.json"));
const lib = await import(pathToFileURL(require.resolve("tiktok-live-connector")).href);
const { ControlEvent, RoomIdRouteConfig, SignConfig, TikTokLiveConnection, WebcastEvent } = lib;

SignConfig.basePath = options.signUrl;
SignConfig.apiKey = options.apiKey ?? undefined;
if (options.resolveVia === "service") {
    RoomIdRouteConfig.skipFetchRoomInfoFromHtmlRoute = true;
    RoomIdRouteConfig.skipFetchRoomInfoFromApiLiveRoute = true;
}

const connection = new TikTokLiveConnection(options.uniqueId, {
    webConfigOverrides: {
        TIKTOK_HOST_WEB: options.webHost,
        TIKTOK_HOST_WEBCAST: options.webcastHost,
    },
});

const expected = new Set(options.expect ?? ["chat", "gift", "like"]);
const timer = setTimeout(() => {
    emit({ event: "timeout", missing: [...expected] });
    process.exit(3);
}, options.timeoutMs ?? 20000);

const seen = async (name, record) => {
    emit({ event: name, ...record });
    expected.delete(name);
    if (expected.size === 0) {
        clearTimeout(timer);
        await connection.disconnect();
        process.exit(0);
    }
};

connection.on(WebcastEvent.CHAT, (data) =>
    seen("chat", {
        comment: data.content,
        nickname: data.user?.nickname,
        uniqueId: data.user?.displayId,
    }),
);
connection.on(WebcastEvent.GIFT, (data) =>
    seen("gift", {
        giftId: text(data.giftId),
        giftName: data.gift?.name,
        repeatCount: data.repeatCount,
        repeatEnd: data.repeatEnd,
        nickname: data.user?.nickname,
    }),
);
connection.on(WebcastEvent.LIKE, (data) =>
    seen("like", { likeCount: data.count, totalLikeCount: text(data.total), nickname: data.user?.nickname }),
);
connection.on(ControlEvent.ERROR, ({ info, exception }) =>
    emit({ event: "error", info, name: exception?.constructor?.name, message: text(exception?.message) }),
);

try {
    const state = await connection.connect(options.roomId || undefined);
    emit({ event: "connected", roomId: text(state.roomId) });
} catch (error) {
    emit({
        event: "connect_error",
        name: error?.constructor?.name,
        reason: error?.reason ?? null,
        message: text(error?.message),
        retryAfter: error?.retryAfter ?? null,
        resetTime: error?.resetTime ?? null,
        causes: (error?.config?.requestErrs ?? []).map((cause) => text(cause?.message)),
    });
    process.exit(1);
}
