use crate::components::time::Time;
use crate::live::DashboardState;
use leptos::prelude::*;

/// Every notification the dashboard keeps, newest first, with read state.
#[component]
pub fn NotificationCentre() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let unread = move || state.unread.get();
    view! {
        <section class="card notification-centre" aria-labelledby="notifications-heading">
            <div class="card__header">
                <h2 id="notifications-heading">
                    "Notifications "
                    <span
                        class="badge"
                        data-testid="unread-badge"
                        data-count=unread
                        aria-label=move || format!("{} unread", unread())
                    >
                        {unread}
                    </span>
                </h2>
                <button
                    type="button"
                    class="button button--quiet"
                    data-testid="read-all"
                    prop:disabled=move || unread() == 0
                    on:click=move |_| state.read_all()
                >
                    "Mark all read"
                </button>
            </div>
            <Show
                when=move || state.notifications.with(|list| !list.is_empty())
                fallback=|| view! { <p class="muted" data-testid="no-notifications">"No notifications yet."</p> }
            >
                <ul class="feed" data-testid="notifications">
                    <For
                        each=move || state.notifications.get()
                        key=|n| (n.seq, n.read_at.is_some())
                        let:notification
                    >
                        {
                            let seq = notification.seq;
                            let unread = notification.read_at.is_none();
                            view! {
                                <li
                                    class="feed__item"
                                    class:feed__item--unread=unread
                                    data-testid="notification"
                                    data-seq=seq
                                    data-read=(!unread).to_string()
                                >
                                    <div class="feed__text">
                                        <strong>{notification.title.clone()}</strong>
                                        <span class="muted">{notification.body.clone()}</span>
                                        <Time at=notification.created_at.clone()/>
                                    </div>
                                    <Show when=move || unread>
                                        <button
                                            type="button"
                                            class="button button--small button--quiet"
                                            data-testid="mark-read"
                                            on:click=move |_| state.mark_read(seq)
                                        >
                                            "Mark read"
                                        </button>
                                    </Show>
                                </li>
                            }
                        }
                    </For>
                </ul>
            </Show>
        </section>
    }
}
